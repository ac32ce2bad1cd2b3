//! Blobs as files on the local disk (written by the S3 work).
