"""Importing this module makes the process end without the interpreter's last collections.

An exit handler freezes every object still alive (:func:`gc.freeze`), so at exit the
interpreter frees them by reference counts only, instead of running full garbage
collections over torch's and MLflow's module graphs: about 1 s at the end of each process
that imported them, on 2 CPU cores. Exit handlers registered after it (MLflow's, torch's,
logging's) still run first. Imported by al4ml's own processes only: the command line and
the grid's worker server (whose end a caller reading the grid's output waits for). Python
promises no ``__del__`` of objects alive at exit either way.
"""

import atexit
import gc

atexit.register(gc.freeze)
