# The live controller's parts: translator, executor, resync, observers (see controller.py).
