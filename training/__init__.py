"""Training and conversion scripts (`python training/<script>.py --help`). A package so that the scripts share
`training.script_args` and tests import them as modules; the library they drive is `linkgan`."""
