"""ganrepro: one thin module per DVC stage, and the library they share."""
