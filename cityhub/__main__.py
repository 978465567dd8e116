from cityhub.cli import cli

cli()
