"""`python -m fastrnn` runs the command line."""
from .cli import main

main()
