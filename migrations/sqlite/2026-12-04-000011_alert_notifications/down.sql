DROP TABLE alert_notifications;
