"""`llmdeploy simulate`: replay traffic and spot capacity traces against a fleet's deployed policies."""
