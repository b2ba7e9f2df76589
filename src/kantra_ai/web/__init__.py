"""The interactive web app (`kantra-ai web`, `kantra-ai plan --interactive-web`): plan, run, review
and settings in a browser, served on this machine only, over the same application layer as the CLI.
Imported only by those commands: the rest of the CLI never loads the web stack."""
