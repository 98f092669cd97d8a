# the user-project tests run only against the installed wheel (`nox -s wheel`)
collect_ignore_glob = ["user_project/*"]
