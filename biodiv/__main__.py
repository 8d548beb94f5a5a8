from biodiv.cli.root import main

main()
