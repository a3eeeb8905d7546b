"""The help-request lifecycle shared by all service modules: requests (bip), responses (pop), matching,
appointments, visit reports, feedback, concerns and the coordinator's tasks."""
