# The units HIHHead composes; none registers anything.
