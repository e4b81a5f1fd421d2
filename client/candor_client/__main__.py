from candor_client.cli import main

main()
