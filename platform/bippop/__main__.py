from bippop.cli import main

main()
