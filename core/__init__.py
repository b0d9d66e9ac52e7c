"""The low layer every other package stands on: settings, the Kafka producer factory, the
API key store, the aggregates' generations and the pipeline's status.

Imports run one way (tests/unit/test_layers.py): core imports only schemas and libraries,
never api/, streams/ or badgepulse/; those three import core.
"""
