"""Domain models, ports and pure logic; imports no platform, database or scheduler library."""
