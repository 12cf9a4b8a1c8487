"""Training under ``TF_CONFIG``: two worker processes on localhost train one model with MultiWorkerMirroredStrategy."""

import json
import os
import socket
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    import tensorflow as tf
    from ser_utils.models.training import compile_classifier, distribution_strategy, fit_model, make_dataset

    strategy = distribution_strategy()  # first, before any other TensorFlow op, as TF_CONFIG requires
    rng = np.random.default_rng(0)
    inputs, labels = rng.standard_normal((64, 8)).astype(np.float32), np.arange(64) % 3
    with strategy.scope():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
        compile_classifier(model, learning_rate=0.01)
    history = fit_model(
        model,
        train=make_dataset(inputs, labels, batch_size=16, shuffle=True, seed=0),
        val=make_dataset(inputs, labels, batch_size=16),
        epochs=1,
        train_labels=labels,
        n_classes=3,
        work_dir=sys.argv[1],
        patience=1,
        print_every=0,
    )
    print(json.dumps({
        "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
        "replicas": strategy.num_replicas_in_sync,
        "loss": float(history["loss"].iloc[0]),
        "weights": float(sum(np.abs(w).sum() for w in model.get_weights())),
    }))
    """
)


def test_two_workers_train_one_model_with_multi_worker_mirrored_strategy(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
        }
        command = [sys.executable, "-c", WORKER, str(tmp_path / f"worker_{index}")]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr[-2000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert all(result["multi_worker"] and result["replicas"] == 2 for result in results)
    # Synchronous training: both workers end the epoch with the same weights and the same (all-reduced) loss.
    assert results[0]["weights"] == results[1]["weights"]
    assert results[0]["loss"] == results[1]["loss"]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports
