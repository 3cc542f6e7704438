#!/usr/bin/env python3
"""The Python service a team would otherwise write: Flask + numpy, JSON arrays in and out.

Usage: python3 bench/flask_translate.py R.f32 DIM PORT
POST /v1/translate {"vectors": [[...], ...]} -> {"vectors": [[...], ...]}: X @ R in float32.
Runs Flask's own threaded server on 127.0.0.1 (one thread per connection, keep-alive); prints "ready" once
listening. bench/vs-flask.ts starts it without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.
"""
import logging
import sys

import numpy as np
from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler


def main():
    r_path, dim, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    r = np.fromfile(r_path, dtype='<f4').reshape(dim, -1)
    app = Flask(__name__)

    @app.post('/v1/translate')
    def translate():
        x = np.asarray(request.get_json()['vectors'], dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != dim:
            return jsonify({'detail': f'vectors must be rows of {dim} values'}), 422
        return jsonify({'vectors': (x @ r).tolist()})

    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    # HTTP/1.1 keep-alive, as ours and the load generator use (the default, 1.0, closes the
    # connection after every answer).
    WSGIRequestHandler.protocol_version = 'HTTP/1.1'
    print('ready', flush=True)
    app.run(host='127.0.0.1', port=port, threaded=True)


if __name__ == '__main__':
    main()
