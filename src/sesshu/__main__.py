from sesshu.cli import main

main()
