"""FBCheck: bulk Facebook number check from Excel and the command line."""
