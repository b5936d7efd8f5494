"""fake_ec2: moto-based EC2 server with the IP rules moto lacks and fault injection."""
