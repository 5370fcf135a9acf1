from grader.interfaces.cli import main

main()
