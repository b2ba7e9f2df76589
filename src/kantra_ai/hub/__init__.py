"""`kantra-ai hub-addon`: a Konveyor Hub addon (one pod per task) over the application layer."""
