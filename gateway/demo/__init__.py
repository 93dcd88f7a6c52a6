"""The synthetic demo region Zaanstreek-Waterland: data in ``data/region.yaml``, a typed loader
(:mod:`gateway.demo.region`) and the seeding of a gateway and its source databases
(:mod:`gateway.demo.seed`)."""
