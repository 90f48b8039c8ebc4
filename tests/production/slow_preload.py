"""A preload module that takes a while to import, as a cold fork server's real imports do on a loaded host."""

import time

time.sleep(3.0)
