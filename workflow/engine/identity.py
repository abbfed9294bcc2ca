"""Who is running this process: the operating system's account, not a flag or a variable.

`getpass.getuser()` trusts ``LOGNAME``/``USER``, which anyone can set; the effective uid
cannot be chosen by the person running the command.
"""

from __future__ import annotations

import os
import pwd


def os_login() -> str:
    """The login name of the effective user id."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        return f"uid{os.geteuid()}"
