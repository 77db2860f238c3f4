from cervix.cli import main

raise SystemExit(main())
