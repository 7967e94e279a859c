# store/meta_pg: the PostgreSQL metadata backend (libpq, Debian libpq-dev).
PKGS += libpq
