from deepzip.cli.main import main

main()
