"""The Kafka broker for development and tests (DESIGN.md "Kafka in development and tests").

``choice`` picks a configured cluster, Docker (``docker``; ``image`` builds its image), or a local
KRaft JVM; ``launch`` starts it; ``dev`` keeps the long-lived one behind
`pipeline kafka up|down|status`. Import the submodules:
this package stays empty so light users (``state``) do not import testcontainers.
"""
