"""Security: TLS listeners, SASL authentication, principals (docs/security.md).

Sans-I/O pieces (settings, principal mapping, the SASL mechanisms' state
machines) live here; the Trio shell is broker/net/tls.py and the SASL
handlers in broker/api/sasl_*.py.
"""
