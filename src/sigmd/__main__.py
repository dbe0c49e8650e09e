from sigmd.cli import main

main()
