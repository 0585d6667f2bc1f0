#!/bin/bash
# The job of the tutorial programs: greets, sleeps three seconds, says goodbye.
echo "Hello world, the answer is $1"
sleep 3s
echo "$2 Bye world!"
