from loadray.cli.main import main

main()
