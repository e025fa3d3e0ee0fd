from ganpat.cli import main

main()
