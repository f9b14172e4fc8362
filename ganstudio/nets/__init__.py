"""The torch side of the built-in models: networks and TrainableModel classes. Each is registered by a light plugin
module in ganstudio/models/ (options, what it supports, a lazy ``build``), so start-up imports no torch."""
