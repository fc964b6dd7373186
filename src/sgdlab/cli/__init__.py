"""The ``sgdlab`` command line (:mod:`.main`): argument parsing only, one module per
subcommand; shared option types in :mod:`.common`, ``--config`` files in :mod:`.configfile`."""
