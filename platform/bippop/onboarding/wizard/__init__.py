"""The self-serve onboarding wizard of councils, on the public site (``/creation/…``): seven steps, each
its own page (GET shows what was saved, POST checks, saves and redirects to the next), a draft kept in
``platform.signups`` and found again by the secret the browser's cookie (or the mailed resume link)
holds; on confirm the tenant is registered and a platform job (``jobs.finish_signup``) provisions it and
creates its administrator."""
