"""The notifications worker: sends the e-mails users and orders promised.

A Celery worker (Redis as broker) whose one task, `notifications.send_email`,
sends one outbox message to the SMTP sink (the `mailer` unit) through the
worker's breaker on its SMTP edge ("mailer"). See `notifications.worker`
for how it is run and `notifications.delivery` for what "exactly once" means
here.
"""
