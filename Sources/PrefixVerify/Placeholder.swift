// The verifier: composition checks, diagnosis, reports.
