"""What every other package needs: money and ids, the tables and database access
(:mod:`.db`), the error tree (:mod:`.errors`), the state machines, the inbox (verify → store
once → apply) and the transactional outbox. It imports only :mod:`providers.common`."""
