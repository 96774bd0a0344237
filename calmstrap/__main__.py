from calmstrap.cli import main

raise SystemExit(main())
