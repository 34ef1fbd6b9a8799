"""The ``users`` command: local dashboard users with Argon2-hashed passwords."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path



def run(args: argparse.Namespace) -> int:
    import getpass

    from dashboard.settings import load_settings, write_first_user_settings
    from dashboard.users import UsersFile

    settings = load_settings(Path(args.warehouse), Path(args.settings) if args.settings else None)
    users = UsersFile(settings.users_file)
    if args.action != "list" and not args.name:
        print(f"error: users {args.action} needs a user NAME", file=sys.stderr)
        return 2
    if args.action == "list":
        for name in users.names():
            print(f"{name}\t{'allowed' if settings.is_allowed(name) else 'not on the allow-list'}")
        return 0
    if args.action == "remove":
        if not users.remove(args.name):
            print(f"error: no user {args.name} in {users.path}", file=sys.stderr)
            return 1
        print(f"removed {args.name} from {users.path}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1
    try:
        users.set_password(args.name, password)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.name}: password stored (Argon2 hash) in {users.path}")
    if not settings.settings_file.exists():
        write_first_user_settings(settings.settings_file, args.name)
        print(f"created {settings.settings_file} allowing {args.name}")
    elif not settings.is_allowed(args.name):
        print(f"note: {args.name} may log in but is not on the allow-list: add it to allow_users in "
              f"{settings.settings_file}")
    return 0
