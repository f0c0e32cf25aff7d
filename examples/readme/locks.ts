import { connectLockService } from 'synod';

const locks = await connectLockService({ members: ['127.0.0.1:7001', '127.0.0.1:7003'] });
const { token } = await locks.acquire('deploy'); // held by this client now; others wait
console.log(`deploying under fencing token ${token}`); // pass it to what the lock protects
await locks.release('deploy');
await locks.close(); // gives back what this client still caches
