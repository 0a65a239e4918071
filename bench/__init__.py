"""The school-scale benchmark (`make bench`, `make lighthouse`): data generator, timings,
throughput under gunicorn, Lighthouse scores. Not part of the application package."""
