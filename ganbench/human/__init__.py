"""Human evaluation (HYPE-infinity, Zhou et al. 2019): a local web page where people judge images as
real or generated, one at a time with unlimited time, and the rate at which generated images are judged
real, with Wilson 95% intervals.

``study.py`` prepares a study (samples, real images, attention checks, the fingerprint),
``order.py`` gives each rater's order, ``judgments.py`` appends and reads the judgments, ``server.py`` serves the page, ``scoring.py`` scores.
"""
