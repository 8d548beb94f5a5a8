from biodiv.cli import main

main()
