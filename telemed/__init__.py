"""telemed: an open-source telemedicine platform for doctors and patients in Italy."""
