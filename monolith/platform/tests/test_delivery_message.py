"""What a ``platform.deliver`` message carries besides its arguments."""

import uuid

from kombu import Connection, Consumer, Queue

from monolith.platform.tasks import deliver


def test_a_delivery_message_names_the_delivery_and_leaves_the_payload_out() -> None:
    event_id = str(uuid.uuid4())
    payload = {"rider_id": str(uuid.uuid4()), "fare": "12.40"}
    queue = Queue("deliveries")
    received = []
    with Connection("memory://") as connection:
        consumer = Consumer(connection, queues=[queue], accept=["json"])
        consumer.register_callback(lambda body, message: received.append(message))
        with consumer:
            deliver.apply_async(
                ("trips", event_id, "billing", "trips.TripCompleted", payload),
                {"after": None},
                producer=connection.Producer(),
                queue=queue,
            )
            connection.drain_events(timeout=5)
    (message,) = received
    assert message.headers["argsrepr"] == repr(
        ("trips", event_id, "billing", "trips.TripCompleted")
    )
    assert message.headers["kwargsrepr"] == "['after']"
    assert "12.40" not in message.headers["argsrepr"]
    # The task itself still gets everything.
    args, kwargs, _ = message.decode()
    assert args == ["trips", event_id, "billing", "trips.TripCompleted", payload]
    assert kwargs == {"after": None}
