from ganrecon.cli import run

run()
